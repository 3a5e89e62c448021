"""HTTP: the FastAPI app, middleware, content negotiation, the SPARQL protocol, routers, pages."""
