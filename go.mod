module github.com/pcp-remote-read/pcp-remote-read

go 1.26.0

require (
	github.com/klauspost/compress v1.20.0
	github.com/ulikunitz/xz v0.5.17
)
