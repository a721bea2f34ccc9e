# The perfgate GitHub Action: `runs: using: docker` in action.yml builds this image (main), or a
# release's action.yml names the prebuilt image by digest.
FROM python:3.11-slim-bookworm

# git: the same-run comparison (`against`) checks out the base commit beside the PR.
# The workspace is mounted from the runner with another owner; git would refuse it as
# "dubious ownership", so every directory is marked safe inside this single-purpose image.
# valgrind: instructions per request (callgrind), which need no hardware counters.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git valgrind \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# perfgate's own environment, apart from the system Python: an app's packages (installed by its
# setup into the environment of its side) can never replace a file under the running perfgate.
# The locked, hashed requirements come first, so a change of perfgate's code reuses this layer.
COPY requirements.lock /opt/perfgate/requirements.lock
RUN python -m venv /opt/perfgate/venv \
    && /opt/perfgate/venv/bin/pip install --no-cache-dir --require-hashes \
        -r /opt/perfgate/requirements.lock \
    && ln -s /opt/perfgate/venv/bin/uv /usr/local/bin/uv

COPY . /opt/perfgate/src
RUN /opt/perfgate/venv/bin/pip install --no-cache-dir --no-deps /opt/perfgate/src \
    && ln -s /opt/perfgate/venv/bin/perfgate /usr/local/bin/perfgate

# No USER: GitHub runs container actions as root and mounts the workspace for root.
ENTRYPOINT ["/opt/perfgate/venv/bin/perfgate"]
