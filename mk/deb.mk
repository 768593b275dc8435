# Debian package: libnginx-mod-http-tenant, built as Debian builds its own
# libnginx-mod-* packages (debhelper with nginx-dev's dh-sequence-nginx,
# from debian/ in this tree), for the nginx of the machine that builds it.
#
#   make deb        build $(DEB_FILE) (tools/build-deb, from a copy of
#                   the tree in $(DEB_BUILD), which also receives the
#                   -dbgsym package and the build log); installs the
#                   build dependencies that are missing (as root)
#   make test-deb   as root: lintian, then apt-get install it into this
#                   machine's nginx, nginx -t and a request with a
#                   configuration that uses it, remove, purge, and check
#                   that nothing is left (tools/test-deb); refuses to run
#                   where the package or a `make install` is in place
#
# The version is debian/changelog's (0.1.0 to begin with).

DEB_PKG     := libnginx-mod-http-tenant
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_BUILD   ?= $(BUILD)/deb
DEB_FILE    := $(BUILD)/$(DEB_PKG)_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_PKGS    := build-essential debhelper dpkg-dev
LINT_PKGS   := lintian

# everything the package is made of
DEB_INPUTS  := $(SRCS) README.md $(wildcard docs/*.md conf.d/*.conf) \
               $(shell find debian -type f) tools/build-deb

.PHONY: deb deb-deps test-deb

deb: deb-deps $(DEB_FILE)

deb-deps:
	@tools/apt-ensure $(BUILD_PKGS) $(DEB_PKGS)

$(DEB_FILE): $(DEB_INPUTS)
	tools/build-deb $(DEB_BUILD) $(BUILD)

test-deb: deps deb
	@tools/apt-ensure $(LINT_PKGS)
	tools/test-deb $(DEB_FILE)
