# syntax=docker/dockerfile:1
# The cjm Airflow image: the official Airflow 3.3.2 image, the project's dependencies exactly as
# pinned in uv.lock, then the project itself (cjm_tasks, configs, templates and the DAGs).
# docker-compose.yml builds it; `docker build -t cjm-airflow .` works on its own too.
#
# Layer order keeps rebuilds cheap: the dependency layers depend on pyproject.toml and uv.lock
# only, so editing code, configs or templates rebuilds just the last, small layers.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# uv.lock as a plain requirements file (every package pinned; the project itself left out).
FROM ${AIRFLOW_IMAGE} AS requirements
COPY --from=uv /uv /usr/local/bin/uv
COPY pyproject.toml uv.lock /tmp/lock/
RUN cd /tmp/lock && uv export --frozen --no-dev --extra airflow --no-emit-project --no-hashes --output-file /tmp/requirements.txt

FROM ${AIRFLOW_IMAGE}
# The lock pins apache-airflow itself (3.3.2), so no constraints file is needed.
COPY --from=requirements /tmp/requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

# Editable install without dependencies: cjm_tasks finds configs/ and templates/ beside it in
# /opt/cjm (docker-compose.yml mounts the working copies there) and the `cjm` command exists.
COPY --chown=airflow:0 pyproject.toml README.md /opt/cjm/
COPY --chown=airflow:0 cjm_tasks /opt/cjm/cjm_tasks
RUN pip install --no-cache-dir --no-deps --editable /opt/cjm
COPY --chown=airflow:0 configs /opt/cjm/configs
COPY --chown=airflow:0 templates /opt/cjm/templates
COPY --chown=airflow:0 dags /opt/airflow/dags

ENV CJM_CONFIG=/opt/cjm/configs/cjm.yaml
