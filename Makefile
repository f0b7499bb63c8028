# reqlens: `make` builds the daemon, `make test` runs every test (see README).
# Outputs go to $(OUTPUT); V=1 shows the commands; -MMD dependency files make a
# header edit rebuild exactly what includes it.

OUTPUT ?= .output
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
MULTIARCH := $(shell $(CC) -dumpmachine)

PKGS := libbpf libelf zlib libmicrohttpd json-c libcurl capstone
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	-Wformat=2 -Wmissing-prototypes -D_GNU_SOURCE -fstack-protector-strong \
	-Iinclude -iquote $(OUTPUT) -iquote src \
	-DREQLENS_VERSION='"$(VERSION)"' -DREQLENS_REVISION='"$(GIT_REV)"' \
	$(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm -lpthread

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -Ivmlinux/$(ARCH) -I/usr/include/$(MULTIARCH)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# Modules shared by the daemon and the unit tests; main.c holds only main().
LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(patsubst src/%.c,$(OUTPUT)/src/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
FIXTURE_SRCS := $(wildcard tests/fixtures/*.c)
FIXTURE_BINS := $(patsubst tests/fixtures/%.c,$(OUTPUT)/fixtures/%,$(FIXTURE_SRCS))

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.SECONDARY: $(SKELS) $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
.PHONY: all deps test unit integration fixtures bench clean vmlinux run agent
all: reqlens

# Installs the Debian build packages that are missing (needs root).
deps:
	$(Q)./scripts/deps.sh build

reqlens: $(OUTPUT)/reqlens
	$(Q)ln -sf $(OUTPUT)/reqlens reqlens

$(OUTPUT) $(OUTPUT)/src $(OUTPUT)/bpf $(OUTPUT)/tests $(OUTPUT)/fixtures:
	$(Q)mkdir -p $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# Every object may include a skeleton: generate them all first.
$(OUTPUT)/src/%.o: src/%.c | $(OUTPUT)/src $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/reqlens: $(OUTPUT)/src/main.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Werror=unused-function -MMD -MP $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/fixtures/%: tests/fixtures/%.c | $(OUTPUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP $< -lpthread -lm -o $@

fixtures: $(FIXTURE_BINS)

unit: $(UNIT_BINS)
	$(Q)./tests/run-unit.sh $(UNIT_BINS)

integration: reqlens fixtures
	$(Q)./tests/integration/run.sh

# The README's two commands. Each installs the Debian packages it lacks first
# (a sub-make, so that pkg-config answers only once they are there).
test:
	$(Q)./scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory unit integration deploy-test

# The main job: the before/after demo (demo/run.sh) on the embedded service.
run:
	$(Q)./scripts/deps.sh build
	$(Q)$(MAKE) --no-print-directory reqlens
	$(Q)./demo/run.sh

# Just the agent, in the foreground: make agent ARGS='--uprobe=...'
agent:
	$(Q)./scripts/deps.sh build
	$(Q)$(MAKE) --no-print-directory reqlens
	$(Q)./reqlens $(ARGS)

# The overhead benchmark (bench/run.sh); writes bench/results.md.
bench: reqlens
	$(Q)./scripts/deps.sh bench
	$(Q)./bench/run.sh $(BENCH_ARGS)

# Regenerates the committed vmlinux.h from the running kernel's BTF.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h
	@echo "vmlinux/$(ARCH)/vmlinux.h regenerated from $$(uname -r); update vmlinux/README.md"

clean:
	rm -rf $(OUTPUT) reqlens

-include $(wildcard $(OUTPUT)/src/*.d $(OUTPUT)/bpf/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/fixtures/*.d)

# deploy/: the image, manifests and their tests (make deploy-test).
-include deploy/deploy.mk
