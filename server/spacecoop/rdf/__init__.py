"""Terms, formats, the loader, JSON-LD and the lexical facts of a query: no HTTP, no pool, no pages."""
