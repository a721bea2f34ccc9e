"""The load engine: an HTTP/1.1 client on raw sockets, levels of concurrent load."""
