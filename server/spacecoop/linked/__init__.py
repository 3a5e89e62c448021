"""What the graph means to a reader: page and VoID queries, the vocabulary, dumps, VoID/DCAT."""
