# Quick start: `make run` and `make test` (see README.md).
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan run test bench deb clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DSANPOOL_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# The embedded default: a local file-backed pool and domain under ./var, API on 127.0.0.1:7447.
run: build
	@mkdir -p var
	@echo "sanpoold: plain HTTP on 127.0.0.1:7447 (loopback only), data in ./var. Try:"
	@echo "  curl -s http://127.0.0.1:7447/v1/host"
	@echo "  curl -s http://127.0.0.1:7447/v1/domains"
	@echo "  $(BUILD)/cli/sanpoolctl image list"
	@echo "  $(BUILD)/cli/sanpoolctl image create --name disk1 --format qcow2 --capacity 10G"
	@exec $(BUILD)/agent/sanpoold --config packaging/dev.conf

# The release tree is built too: `make run` and `make bench` use it, and -O2
# finds warnings (-Werror) that the -O0 sanitizer build does not.
test: build build-asan
	@cd $(BUILD_ASAN) && ctest --output-on-failure -j 2

bench: build
	@bench/run-all $(BUILD)

# The Debian package, built by dpkg-buildpackage from a staged copy (scripts/make-deb
# says why); the .deb lands in $(BUILD)/deb.
deb: deps
	@JOBS=$(JOBS) scripts/make-deb $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
