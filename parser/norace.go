//go:build !race

package parser

const raceBuild = false
