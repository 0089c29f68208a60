"""gridbench user layer: the Qt panel and the command line."""
