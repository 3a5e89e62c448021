"""SpaceCoop KG: a linked-data knowledge graph of European-Chinese space cooperation.

Data flows one way: ``loader`` reads the Turtle into a ``store``; every consumer (the
SPARQL protocol, pages, REST API, exports, pictures, validation) asks that one store.
"""

__version__ = "0.1.0"
