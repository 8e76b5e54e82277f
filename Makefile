# Quick start: `make run` and `make test` (see README.md).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan build-fuzz run test fuzz bench deb clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Its cluster tier (tests/cluster) runs the release tree's agent in the guests
# (tests/CMakeLists.txt says why): `make test` builds both.
build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DSANPOOL_SANITIZE=ON \
		-DSANPOOL_CLUSTER_SANPOOLD=$(abspath $(BUILD))/agent/sanpoold >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# libFuzzer harnesses (fuzz/README.md): clang, ASan + UBSan, their own tree.
build-fuzz: deps
	@cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSANPOOL_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

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
# finds warnings (-Werror) that the -O0 sanitizer build does not. After the
# unit and integration tests, every fuzz harness for a bounded time on its corpus (about a minute in all).
test: build build-asan build-fuzz
	@cd $(BUILD_ASAN) && ctest --output-on-failure -j 2
	@cd $(BUILD_FUZZ) && ctest --output-on-failure -j 2

# Only the fuzz harnesses, as make test runs them (a longer campaign: fuzz/README.md).
fuzz: build-fuzz
	@cd $(BUILD_FUZZ) && ctest --output-on-failure -j 2

bench: build
	@bench/run-all $(BUILD)

# The Debian package, built by dpkg-buildpackage from a staged copy (scripts/make-deb
# says why); the .deb lands in $(BUILD)/deb.
deb: deps
	@JOBS=$(JOBS) scripts/make-deb $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
