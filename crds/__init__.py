"""Antrea CRD manifests the adapter uses, and pydantic models of their specs."""
