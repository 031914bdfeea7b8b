"""haysay: node-graph pipelines for voice generation and voice conversion."""
