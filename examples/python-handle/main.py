"""A plain handler: the event (a CloudEvent's data, or the request's JSON body or query) in, JSON out."""

from slugify import slugify


def handle(event):
    name = (event or {}).get("name", "world")
    return {"greeting": f"Greetings, {name}", "slug": slugify(name)}
