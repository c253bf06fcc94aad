// Command hello is the example project of slipway's quick start: a static
// binary in a FROM scratch image whose -selftest is the build's test stage.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-selftest" {
		fmt.Println("hello: selftest ok")
		return
	}
	fmt.Println("hello from an image built by slipway")
}
