# nfsentry container: Debian 12, built from this source tree with Debian's
# packages only. docs/manual.md ("In a container") shows how to run it.
FROM debian:12 AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      gcc pkg-config meson ninja-build libuv1-dev libjansson-dev libpcap-dev libyaml-dev \
      libsqlite3-dev libcurl4-openssl-dev libssh-dev libmicrohttpd-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -Dtests=false && ninja -C /build

FROM debian:12
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libuv1 libjansson4 libpcap0.8 libyaml-0-2 libsqlite3-0 libcurl4 libssh-4 \
      libmicrohttpd12 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/nfsentry --create-home nfsentry
COPY --from=build /build/src/nfsentry /usr/local/bin/nfsentry
COPY config/nfsentry.yaml /etc/nfsentry/nfsentry.yaml
USER nfsentry
WORKDIR /var/lib/nfsentry
VOLUME /var/lib/nfsentry
EXPOSE 2055/udp 4739/udp 9995/udp
ENTRYPOINT ["/usr/local/bin/nfsentry"]
CMD ["run", "-c", "/etc/nfsentry/nfsentry.yaml"]
