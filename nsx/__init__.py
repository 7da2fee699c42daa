"""NSX Manager REST client and pydantic models; knows nothing of Kubernetes."""
