package install

import (
	"regexp"
	"strings"
	"testing"
)

// TestImageBuildIsExercised keeps `make build-image-binary` (run by
// `make build` in CI) building the manager exactly as the Dockerfile does,
// and the image static, non-root and distroless.
func TestImageBuildIsExercised(t *testing.T) {
	dockerfile := string(readFile(t, "Dockerfile"))
	makefile := string(readFile(t, "Makefile"))

	goBuild := regexp.MustCompile(`(?m)^RUN (.*\bgo build .*) -o manager (\./cmd/manager)$`).FindStringSubmatch(dockerfile)
	if goBuild == nil {
		t.Fatal("no `RUN ... go build ... -o manager ./cmd/manager` line in the Dockerfile")
	}
	docker := goBuild[1] + " " + goBuild[2]
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(docker, want) {
			t.Errorf("the Dockerfile's go build lacks %s: %s", want, docker)
		}
	}

	recipe := regexp.MustCompile(`(?m)^build-image-binary:.*\n\t(.*\bgo build .*) -o \$\(LOCALBIN\)/manager-image (\./cmd/manager)$`).FindStringSubmatch(makefile)
	if recipe == nil {
		t.Fatal("no build-image-binary target running `go build ... -o $(LOCALBIN)/manager-image ./cmd/manager` in the Makefile")
	}
	fromMake := strings.ReplaceAll(recipe[1], "$$", "$") + " " + recipe[2]
	if fromMake != docker {
		t.Errorf("make build-image-binary runs\n  %s\nbut the Dockerfile runs\n  %s", fromMake, docker)
	}
	if !regexp.MustCompile(`(?m)^build: .*\bbuild-image-binary\b`).MatchString(makefile) {
		t.Error("`make build` does not run build-image-binary")
	}
	if !regexp.MustCompile(`(?m)^docker-build:`).MatchString(makefile) {
		t.Error("the docker-build target is gone")
	}

	stages := regexp.MustCompile(`(?m)^FROM (\S+(?: \S+)*)$`).FindAllStringSubmatch(dockerfile, -1)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage Dockerfile, got %d stage(s)", len(stages))
	}
	if final := stages[len(stages)-1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.Contains(final, ":nonroot") {
		t.Errorf("final stage %q is not distroless static nonroot", final)
	}
	if !regexp.MustCompile(`(?m)^USER 65532:65532$`).MatchString(dockerfile) {
		t.Error("the image does not run as user 65532")
	}
}
