//go:build race

package parser

// raceBuild: the race detector maps its own shadow memory as the program
// grows, and an address space limit makes it abort for that alone.
const raceBuild = true
