"""Development tools: the benchmark commands. Installed in a checkout and in CI (settings add
the app when this folder is present); left out of the production image (.dockerignore)."""
