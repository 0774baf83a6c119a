# classctl container: build with the official Swift image on Debian 12 (bookworm), run on a
# slim Debian 12 with only the runtime libraries. The build steps are the README's and CI's:
# scripts/setup.sh installs the same apt packages, then `swift build -c release`.
#
#   docker build -t classctl .
#   docker run -p 8080:8080 -v classctl-recordings:/var/lib/classctl/recordings classctl

FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
COPY scripts ./scripts
COPY Sources ./Sources
COPY Tests ./Tests
COPY web-static ./web-static
COPY config ./config
RUN scripts/setup.sh \
 && swift build -c release --product classctl \
 && install -D "$(swift build -c release --show-bin-path)/classctl" /out/classctl

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/classctl --create-home classctl \
 && mkdir -p /var/lib/classctl/recordings && chown classctl /var/lib/classctl/recordings
# The Swift runtime libraries the binary links against.
COPY --from=build /usr/lib/swift/linux/*.so /usr/lib/swift/linux/
COPY --from=build /out/classctl /usr/local/bin/classctl
COPY web-static /usr/share/classctl/web-static
COPY config /etc/classctl
ENV LD_LIBRARY_PATH=/usr/lib/swift/linux \
    CLASSCTL_CONFIG=/etc/classctl/classctl.yaml \
    CLASSCTL_RECORD_DIR=/var/lib/classctl/recordings \
    CLASSCTL_WEB_ROOT=/usr/share/classctl/web-static \
    CLASSCTL_LOG_FORMAT=json
USER classctl
WORKDIR /var/lib/classctl
VOLUME ["/var/lib/classctl/recordings"]
EXPOSE 8080 8443
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["classctl"]
CMD ["start", "--host", "0.0.0.0", "--port", "8080"]
