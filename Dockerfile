# The perfgate GitHub Action: `runs: using: docker` in action.yml builds this image.
FROM python:3.11-slim-bookworm

# git: the same-run comparison (`against`) checks out the base commit beside the PR.
# The workspace is mounted from the runner with another owner; git would refuse it as
# "dubious ownership", so every directory is marked safe inside this single-purpose image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# .dockerignore keeps caches, virtualenvs and .git out of the context.
COPY . /opt/perfgate
RUN pip install --no-cache-dir /opt/perfgate

# No USER: GitHub runs container actions as root and mounts the workspace for root.
ENTRYPOINT ["perfgate"]
