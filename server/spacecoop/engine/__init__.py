"""The one entry point Engine.run(Job) -> Answer: backends, the worker pool, limits, caches, stores."""
