# syntax=docker/dockerfile:1
# The cjm Airflow image: the official Airflow 3.3.2 image, the project's dependencies exactly as
# pinned in uv.lock, then the project as the wheel a builder stage makes (cjm_tasks and cjm_demo,
# with configs/ and templates/ as package data), then the DAGs. No source tree in the image.
# docker-compose.yml builds it; `docker build -t cjm-airflow .` works on its own too.
#
# Layer order keeps rebuilds cheap: the dependency layers depend on pyproject.toml and uv.lock
# only, so editing code, configs or templates rebuilds just the wheel and the last, small layers.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# uv.lock as a plain requirements file (every package pinned; the project itself left out).
FROM ${AIRFLOW_IMAGE} AS requirements
COPY --from=uv /uv /usr/local/bin/uv
COPY pyproject.toml uv.lock /tmp/lock/
RUN cd /tmp/lock && uv export --frozen --no-dev --extra airflow --no-emit-project --no-hashes --output-file /tmp/requirements.txt

# The wheel, built from exactly what it packages (pyproject.toml names configs/ and templates/ as
# force-included package data). Only the file lands in the final image, not this stage.
FROM ${AIRFLOW_IMAGE} AS wheel
COPY --from=uv /uv /usr/local/bin/uv
COPY --chown=airflow:0 pyproject.toml README.md /tmp/src/
COPY --chown=airflow:0 cjm_tasks /tmp/src/cjm_tasks
COPY --chown=airflow:0 cjm_demo /tmp/src/cjm_demo
COPY --chown=airflow:0 configs /tmp/src/configs
COPY --chown=airflow:0 templates /tmp/src/templates
RUN uv build --wheel --out-dir /tmp/dist /tmp/src

FROM ${AIRFLOW_IMAGE}
# The lock pins apache-airflow itself (3.3.2), so no constraints file is needed.
COPY --from=requirements /tmp/requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

# The wheel without dependencies (the lock installed them above): cjm_tasks with its bundled
# configuration and templates in site-packages, and the `cjm` command. Mounted, not copied, so
# the wheel file itself stays out of the image.
RUN --mount=type=bind,from=wheel,source=/tmp/dist,target=/tmp/dist pip install --no-cache-dir --no-deps /tmp/dist/cjm-*.whl
COPY --chown=airflow:0 dags /opt/airflow/dags
