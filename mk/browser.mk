# Headless Chromium + its WebDriver from Debian, for the tests that look at a page as a person would
# (ZenML dashboard, Argilla UI). Skipped when both are already on PATH.
CHROMIUM_BIN := $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))
CHROMEDRIVER_BIN := $(firstword $(wildcard /usr/bin/chromedriver))

.PHONY: browser
browser:
ifeq ($(and $(CHROMIUM_BIN),$(CHROMEDRIVER_BIN)),)
	@command -v apt-get >/dev/null || { echo "error: install chromium and chromedriver (browser tests need them)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
endif

TEST_SERVICES += browser
