"""The HTTP ceiling: a bare FastAPI route returning a constant SPARQL result."""

from fastapi import FastAPI, Response

app = FastAPI()
BODY = b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1"}}]}}'


@app.get("/sparql")
async def sparql() -> Response:
    return Response(BODY, media_type="application/sparql-results+json")
