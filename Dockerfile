# Artery image: every binary (artery, artery-mllp-in, artery-ehr-out) in one
# image; docker-compose.yml picks the process per service. Two stages: a
# Debian 12 build with the -dev packages of DESIGN §2, then a slim runtime
# with only their shared libraries, running as an unprivileged user.
#   docker build -t artery .
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libavro-dev libjansson-dev libmicrohttpd-dev \
      libcurl4-openssl-dev libyaml-dev libsqlite3-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY common common
COPY tools tools
COPY producers producers
COPY consumers consumers
COPY schemas schemas
COPY topology topology
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /opt/artery

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libavro23 libjansson4 libmicrohttpd12 libcurl4 \
      libyaml-0-2 libsqlite3-0 libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/artery --create-home artery
COPY --from=build /opt/artery /opt/artery
COPY deploy/topology.yaml /etc/artery/topology.yaml
ENV PATH=/opt/artery/bin:$PATH \
    ARTERY_SCHEMAS_DIR=/opt/artery/share/artery/schemas \
    ARTERY_TOPOLOGY=/etc/artery/topology.yaml
USER artery
WORKDIR /var/lib/artery
# MLLP listener, admin ports (mllp-in, ehr-out)
EXPOSE 2575 9301 9311
ENTRYPOINT ["artery"]
CMD ["--help"]
