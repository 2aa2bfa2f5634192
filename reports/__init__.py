"""The report's life: drafts, versions, signing, addenda, exports."""
