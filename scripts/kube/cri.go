package main

import (
	"context"
	"fmt"
	"os"
	"time"

	remote "k8s.io/cri-client/pkg"
)

// criCleanup stops and removes every pod sandbox of the container runtime at endpoint, so that the runtime
// tears down each pod's network (CNI DEL: addresses, port mappings) before it is stopped itself.
func criCleanup(endpoint string) error {
	runtime, err := remote.NewRemoteRuntimeService(endpoint, 30*time.Second, nil, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sandboxes, err := runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	failed := 0
	for _, sandbox := range sandboxes {
		if err := runtime.StopPodSandbox(ctx, sandbox.Id); err != nil {
			fmt.Fprintf(os.Stderr, "stopping pod sandbox %s (%s/%s): %v\n", sandbox.Id, sandbox.Metadata.GetNamespace(), sandbox.Metadata.GetName(), err)
			failed++
			continue
		}
		if err := runtime.RemovePodSandbox(ctx, sandbox.Id); err != nil {
			fmt.Fprintf(os.Stderr, "removing pod sandbox %s: %v\n", sandbox.Id, err)
			failed++
		}
	}
	fmt.Printf("removed %d of %d pod sandboxes\n", len(sandboxes)-failed, len(sandboxes))
	if failed > 0 {
		return fmt.Errorf("%d pod sandboxes could not be removed", failed)
	}
	return nil
}
