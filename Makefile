# Entry points; each target sets up what it needs (cached) first. See README.md.
.PHONY: demo test audit lab-up lab-down sanity units lint molecule build changelog ee

demo:            ## bring the lab up and run the main job on it
	scripts/demo.sh

test:            ## everything CI runs: sanity, units, lint, all molecule scenarios
	scripts/test.sh all

audit:           ## read-only audit of this machine (no inventory, check mode)
	scripts/audit.sh

lab-up:
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

sanity units lint:
	scripts/test.sh $@

molecule:
	scripts/test.sh molecule $(SCENARIO)

ee:              ## the execution environment built (ansible-builder) and detect.yml run in it (ansible-runner)
	scripts/ee.sh

build:           ## the Galaxy artifact
	. scripts/env.sh && ansible-galaxy collection build --force --output-path build/

changelog:
	. scripts/env.sh && antsibull-changelog release
