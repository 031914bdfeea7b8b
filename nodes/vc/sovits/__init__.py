"""so-vits-svc 4.0/4.1 adapter: architecture, checkpoint + config reading, k-means cluster, pipeline, node."""
