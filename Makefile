# Bidroom: the few targets people expect.
.PHONY: run test bench lint build fuzz

run: ## run the server with the embedded store and a demo session
	go run ./cmd/bidroom serve

test: ## the whole suite: installs what it needs, lints, go test -race, browser tests
	./scripts/test.sh

build:
	go build -o bidroom ./cmd/bidroom

lint:
	gofmt -l . | (! grep .)
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: ## websocket fan-out, evaluation-room and auction load runs and the Go benchmarks (see docs/BENCHMARKS.md)
	go test -run XXX -bench . -benchtime 2s ./decrypt ./store/...
	go run ./bench/wsload -n 1000,2000,5000,8000,10000 -keep-going
	go run ./bench/evalload -members 7 -bids 20 -supervisors 50 -rounds 40
	go run ./bench/auctionload -bidders 300 -active 100 -watchers 500 -configs embedded,redis,redis2

fuzz: ## a short run of every fuzz target
	go test ./rooms -run XXX -fuzz FuzzDecodeEvent -fuzztime 30s
	go test ./rooms -run XXX -fuzz FuzzOpeningCommand -fuzztime 30s
	go test ./rooms -run XXX -fuzz FuzzEvaluationCommand -fuzztime 30s
	go test ./rooms -run XXX -fuzz FuzzAuctionCommand -fuzztime 30s
	go test ./rooms -run XXX -fuzz FuzzVerifyAuction -fuzztime 30s
	go test ./api -run XXX -fuzz FuzzParseExpertsCSV -fuzztime 30s
	go test ./archive -run XXX -fuzz FuzzArchive -fuzztime 30s
	go test ./signaling -run XXX -fuzz FuzzDecodeClientFrame -fuzztime 30s
	go test ./decrypt -run XXX -fuzz FuzzReadHeader -fuzztime 30s
	go test ./decrypt -run XXX -fuzz FuzzOpen -fuzztime 30s
	go test ./decrypt -run XXX -fuzz FuzzKeys -fuzztime 30s
	go test ./signin -run XXX -fuzz FuzzParse -fuzztime 30s
	go test ./bond -run XXX -fuzz FuzzParseResponse -fuzztime 30s
	go test ./media/recorder -run XXX -fuzz FuzzRecover -fuzztime 30s
	go test ./media -run XXX -fuzz FuzzPayloadParsers -fuzztime 30s
	go test ./bench/wsload -run XXX -fuzz FuzzFrameParser -fuzztime 30s
