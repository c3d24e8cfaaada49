"""`python -m apidoc --openapi` prints the document committed as docs/openapi.json;
`--request-schemas` the request schemas committed as workers/api/request_schemas.json."""

import argparse
import json

from apidoc import openapi

parser = argparse.ArgumentParser(prog="python -m apidoc")
printed = parser.add_mutually_exclusive_group(required=True)
printed.add_argument("--openapi", action="store_true", help="print the OpenAPI document")
printed.add_argument("--request-schemas", action="store_true", help="print the schemas the handler checks requests by")
args = parser.parse_args()
print(json.dumps(openapi.document() if args.openapi else openapi.request_schemas(), indent=2, ensure_ascii=False))
