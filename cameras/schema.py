"""OpenAPI descriptions of our authentication schemes (loaded by CamerasConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "cameras.authentication.UserTokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A user's API token: `Authorization: Bearer <token>`.",
        }


class DeviceKeyScheme(OpenApiAuthenticationExtension):
    target_class = "cameras.authentication.DeviceKeyAuthentication"
    name = "deviceKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An edge device key: `Authorization: Token <key>` "
            "(or `X-API-Key: <key>`).",
        }
