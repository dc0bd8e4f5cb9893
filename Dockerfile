# The Termshift image: the worker (default command) and the admin CLI, on Python 3.11.
#   docker build -t termshift .          # docker compose builds it for you
#   docker run --rm termshift python starter.py --help
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that code changes reuse this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself (runtime dependencies only: no dev extras).
COPY . .
RUN pip install --no-deps . \
    && rm -rf build *.egg-info \
    && python -m compileall -q /app

# Run as an unprivileged user; the code stays owned by root (read-only for the worker).
RUN groupadd --system --gid 10001 termshift \
    && useradd --system --uid 10001 --gid termshift --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin termshift
USER termshift
ENV PYTHONDONTWRITEBYTECODE=1

# SIGTERM stops the worker gracefully (in-flight activities finish first).
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
