"""An AWS Lambda style handler: (event, context) in, API Gateway proxy response out."""

import json
import time

import humanize

STARTED_AT = time.monotonic()


def lambda_handler(event, context):
    is_cloudevent = "specversion" in event
    if is_cloudevent:
        name = (event.get("data") or {}).get("name", "event")
        via = f"cloudevent {event['type']}"
    else:
        name = (event.get("queryStringParameters") or {}).get("name", "world")
        via = f"http {event['requestContext']['http']['method']}"
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "message": f"Hello, {name}!",
                "via": via,
                "function": context.function_name,
                "uptime": humanize.naturaldelta(time.monotonic() - STARTED_AT),
            }
        ),
    }
