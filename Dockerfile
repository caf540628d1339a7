# nfsentry container: Debian 12, built from this source tree with Debian's
# packages only. docs/manual.md ("In a container") shows how to run it.
#
# tools/check-image reads this file (the build stage's meson command, the final
# stage's RUN, COPY, ENV, USER, WORKDIR, VOLUME, EXPOSE, HEALTHCHECK, ENTRYPOINT
# and CMD lines) and replays it in a Debian 12 root made with debootstrap, since
# no container engine runs where the tests run. Keep each instruction on its own
# line(s) in the forms used here; the tool refuses forms it does not know.
FROM debian:12 AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      gcc pkg-config meson ninja-build python3 libuv1-dev libjansson-dev libpcap-dev \
      libyaml-dev libsqlite3-dev libcurl4-openssl-dev libssh-dev libmicrohttpd-dev \
      libjs-chart.js zlib1g-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -Dtests=false && ninja -C /build

FROM debian:12
# The collector's user has a fixed uid/gid (2055), so that files made on the host for it
# (secrets, configuration) can be given to it: docs/manual.md, docs/elasticsearch.md.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libuv1 libjansson4 libpcap0.8 libyaml-0-2 libsqlite3-0 libcurl4 libssh-4 \
      libmicrohttpd12 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 2055 nfsentry \
    && useradd --system --uid 2055 --gid 2055 --home-dir /var/lib/nfsentry --create-home \
      --shell /usr/sbin/nologin nfsentry
COPY --from=build /build/src/nfsentry /usr/local/bin/nfsentry
COPY config/nfsentry.yaml /etc/nfsentry/nfsentry.yaml
# The dashboard listens on loopback by default; in a container that is unreachable, so the
# image moves it to every address (docs/configuration.md, "Environment overrides").
ENV NFSENTRY_WEB_LISTEN=0.0.0.0:8080
USER nfsentry
WORKDIR /var/lib/nfsentry
VOLUME ["/var/lib/nfsentry", "/etc/nfsentry"]
EXPOSE 2055/udp 4739/udp 9995/udp 8080/tcp
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/nfsentry", "healthcheck", "-c", "/etc/nfsentry/nfsentry.yaml"]
ENTRYPOINT ["/usr/local/bin/nfsentry"]
CMD ["run", "-c", "/etc/nfsentry/nfsentry.yaml"]
