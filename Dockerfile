# One image for the API, the worker and the provider simulator; the command picks the process.
FROM python:3.12-slim AS base
# Bytecode is compiled at build time: the workflow sandbox re-imports the workflow module for every
# new workflow, and without .pyc files it compiles the sources each time (BENCHMARKS.md, fix 1).
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY store ./store
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY api ./api
COPY simulator ./simulator
COPY core ./core
COPY services ./services
COPY cli ./cli
COPY devstack ./devstack
RUN pip install . && python -m compileall -q /app && useradd --system --uid 10001 app
USER app
EXPOSE 8000 8100
CMD ["python", "-m", "api"]
