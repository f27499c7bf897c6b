# JailShim: `make run` builds and starts the daemon; `make test` runs every test.
CONFIG ?= Release
DAEMON := src/JailShim/bin/$(CONFIG)/net10.0/jailshim
ARGS ?=

.PHONY: build run test unit conformance bench clean

build:
	dotnet build JailShim.sln -c $(CONFIG) -nologo -v quiet -clp:ErrorsOnly

run: build
	$(DAEMON) $(ARGS)

test: build
	dotnet test tests/JailShim.Runtime.Tests -c $(CONFIG) --no-build -nologo
	dotnet test tests/conformance -c $(CONFIG) --no-build -nologo

unit: build
	dotnet test tests/JailShim.Runtime.Tests -c $(CONFIG) --no-build -nologo

conformance: build
	dotnet test tests/conformance -c $(CONFIG) --no-build -nologo

bench: build
	dotnet run --project bench/JailShim.Bench -c $(CONFIG) -- $(ARGS)

clean:
	dotnet clean JailShim.sln -c $(CONFIG) -nologo -v quiet
