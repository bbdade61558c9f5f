"""The topology, started once for the package's tests and always stopped at its end; when a
test failed, the end of every process's log is printed."""

import pytest

from anpr.tests.topology.processes import TopologyDidNotStart, log_tails, topology_running


@pytest.fixture(scope="package")
def topology(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("topology")
    failed_before = request.session.testsfailed
    try:
        with topology_running(tmp) as running:
            yield running
            if request.session.testsfailed > failed_before:
                capture = request.config.pluginmanager.get_plugin("capturemanager")
                reporter = request.config.pluginmanager.get_plugin("terminalreporter")
                with capture.global_and_fixture_disabled():
                    logs = tmp / "logs"
                    reporter.write_line(f"\nLogs of the topology ({logs}):\n{log_tails(logs)}")
    except TopologyDidNotStart as error:
        pytest.fail(str(error), pytrace=False)
