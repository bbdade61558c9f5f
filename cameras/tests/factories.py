import factory

from cameras.models import Camera, EdgeDevice, ModelConfig, SensorSettings, Zone


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    slug = factory.Sequence(lambda n: f"cam-{n}")
    name = factory.Sequence(lambda n: f"Camera {n}")
    latitude = 51.5074
    longitude = -0.1278


def square(lon=-0.128, lat=51.507, size=0.001):
    """A closed GeoJSON Polygon around (lon, lat)."""
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    camera = factory.SubFactory(CameraFactory)
    name = factory.Sequence(lambda n: f"Zone {n}")
    kind = Zone.Kind.ENTRY
    geometry = factory.LazyFunction(square)


class ModelConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelConfig

    name = "plate-ocr"
    version = factory.Sequence(lambda n: f"1.{n}.0")
    task = ModelConfig.Task.OCR


class SensorSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SensorSettings

    camera = factory.SubFactory(CameraFactory)


class EdgeDeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EdgeDevice

    name = factory.Sequence(lambda n: f"edge-{n}")
