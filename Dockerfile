FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends xmlsec1 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /srv/lienthong lienthong
WORKDIR /srv/lienthong
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY connectors ./connectors
COPY migrations ./migrations
COPY schemas ./schemas
# Editable install: the migrations stay beside the package where `lienthong db upgrade` finds them.
RUN pip install --no-cache-dir -e . && mkdir -p /var/lib/lienthong && chown lienthong /var/lib/lienthong
USER lienthong
ENV LIENTHONG_DATA_DIR=/var/lib/lienthong
EXPOSE 8080
CMD ["lienthong", "serve", "--host", "0.0.0.0", "--port", "8080"]
