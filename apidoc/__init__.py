"""The API's OpenAPI document (docs/openapi.json) and the request schemas the
handler checks against (workers/api/request_schemas.json), generated from the
handler's routes, the operations' signatures and the pydantic models here.
Outside `workers/`, so the Lambda package neither ships nor loads pydantic."""
