"""Built-in scenario plugins, registered through the `harness.scenarios` entry-point group."""
