module github.com/evtxhunt/evtxhunt

go 1.26.0

require (
	github.com/0xrawsec/golang-evtx v1.2.9
	go.yaml.in/yaml/v3 v3.0.6
)

require github.com/0xrawsec/golang-utils v1.3.0 // indirect
