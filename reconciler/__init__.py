"""The generic reconciliation engine: controller-runtime's guarantees for Python controllers.

Knows Kubernetes only; nothing here may import NSX or Antrea code.
"""
