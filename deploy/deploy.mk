# Deployment targets, included by the top-level Makefile (-include deploy/deploy.mk).
#   make deploy-test    builds the image with podman and runs it as each DaemonSet variant
#                       would (root; installs podman, runc, debootstrap when missing)
#   make deploy-image   builds the image reqlens:$(VERSION) from deploy/Dockerfile
CONTAINER_ENGINE ?= podman

.PHONY: deploy-test deploy-image

deploy-test:
	$(Q)./tests/deploy/run.sh

deploy-image:
	$(CONTAINER_ENGINE) build -f deploy/Dockerfile \
		--build-arg REQLENS_REVISION=$(or $(GIT_REV),unknown) \
		-t reqlens:$(or $(VERSION),latest) .
