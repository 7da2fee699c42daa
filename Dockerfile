# syntax=docker/dockerfile:1
# antrea-nsx-adapter: one image for both containers of the adapter Pod (mp-adapter, ccp-adapter).
#
#   docker build -t registry.example.com/antrea-nsx-adapter:$(python -c 'import reconciler.version as v; print(v.__version__)') .
#
# The base is pinned by version. For reproducible releases pin its digest as well, resolved at
# release time (a digest cannot be checked from the machines this file is written on):
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm --format '{{json .Manifest.Digest}}'
#   then build with --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- build: a virtualenv with the project and its dependencies (binary wheels, no compiler) ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY setup.cfg pyproject.toml README.md ./
COPY reconciler/ reconciler/
COPY controllers/ controllers/
COPY crds/ crds/
COPY nsx/ nsx/
# sim/ (the simulators) and hack/ stay out of the image: tests and the demo only.
RUN /opt/venv/bin/pip install . \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
 && /opt/venv/bin/pip uninstall -y pip setuptools wheel

# ---- runtime: the interpreter, the virtualenv, nothing else ----
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="antrea-nsx-adapter" \
      org.opencontainers.image.description="Joins a Kubernetes cluster running Antrea to an NSX Manager" \
      org.opencontainers.image.licenses="Apache-2.0"
# The base image's own pip/setuptools are not needed at run time: fewer packages to patch.
RUN python -m pip uninstall -y pip setuptools wheel && rm -rf /root/.cache
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so that runAsNonRoot can verify it without an /etc/passwd lookup (65532 = "nonroot").
USER 65532:65532
ENTRYPOINT ["antrea-nsx-adapter"]
CMD ["--help"]
