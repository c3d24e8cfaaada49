"""`python -m workers.api --openapi` prints the document committed as docs/openapi.json."""

import argparse
import json

from workers.api import openapi

parser = argparse.ArgumentParser(prog="python -m workers.api")
parser.add_argument("--openapi", action="store_true", required=True, help="print the OpenAPI document")
parser.parse_args()
print(json.dumps(openapi.document(), indent=2, ensure_ascii=False))
