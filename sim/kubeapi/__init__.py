"""An emulated kube-apiserver over HTTP for tests and the demo."""
